-- GET /v1/me/messages (or the path given), each request with the next employee's JWT.
-- wrk -s feed.lua URL -- TOKENS_FILE THREADS [PATH]   (one signed token per line)
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
   tokens = {}
   for line in io.lines(args[1]) do
      tokens[#tokens + 1] = "Bearer " .. line
   end
   step = tonumber(args[2]) or 1
   path = args[3] or "/v1/me/messages"
   index = id
end

function request()
   local token = tokens[(index % #tokens) + 1]
   index = index + step
   return wrk.format("GET", path, { ["Authorization"] = token })
end
