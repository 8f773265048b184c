-- POST /v1/me/messages/{id}/acknowledgement, each line "TOKEN MESSAGE_ID" used once (the
-- employee is a pending recipient of that message); lines are shared out between threads.
-- wrk -s ack.lua URL -- PAIRS_FILE THREADS
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
   tokens, paths = {}, {}
   for line in io.lines(args[1]) do
      local token, message = line:match("^(%S+) (%S+)$")
      tokens[#tokens + 1] = "Bearer " .. token
      paths[#paths + 1] = "/v1/me/messages/" .. message .. "/acknowledgement"
   end
   step = tonumber(args[2]) or 1
   index = id
end

function request()
   local i = (index % #tokens) + 1
   index = index + step
   return wrk.format("POST", paths[i], { ["Authorization"] = tokens[i] })
end
