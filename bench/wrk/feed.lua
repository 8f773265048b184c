-- GET /v1/me/messages, each request with the next employee's JWT.
-- wrk -s feed.lua URL -- TOKENS_FILE THREADS   (one signed token per line)
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
   tokens = {}
   for line in io.lines(args[1]) do
      tokens[#tokens + 1] = "Bearer " .. line
   end
   step = tonumber(args[2]) or 1
   index = id
end

function request()
   local token = tokens[(index % #tokens) + 1]
   index = index + step
   return wrk.format("GET", "/v1/me/messages", { ["Authorization"] = token })
end
