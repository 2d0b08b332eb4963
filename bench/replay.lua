-- Replay signed Twilio webhooks with wrk, cycling through a list baked by bench/run.py.
--
--   wrk -t2 -c16 -d10s --latency -s bench/replay.lua http://127.0.0.1:PORT -- requests.tsv
--
-- Each line of requests.tsv is: path TAB X-Twilio-Signature TAB form body TAB idempotency token.
-- Each wrk thread starts at its own place in the list. Responses are counted by
-- status, and SMS replies that carry a <Message> are counted, so run.py can
-- tell a benchmark of real answers from one of refusals or rate-limited silence.
-- done() prints one line starting "BENCH " with the figures as JSON.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   queue = {}
   local file = assert(io.open(args[1], "r"))
   for line in file:lines() do
      local path, signature, body, token = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
      if path then
         local headers = {
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["X-Twilio-Signature"] = signature,
         }
         if token ~= "" then
            headers["I-Twilio-Idempotency-Token"] = token
         end
         queue[#queue + 1] = wrk.format("POST", path, headers, body)
      end
   end
   file:close()
   local stride = tonumber(args[2]) or 1
   index = (id * stride * 97) % #queue
   ok, refused, failed, messages = 0, 0, 0, 0
end

function request()
   index = index % #queue + 1
   return queue[index]
end

function response(status, headers, body)
   if status == 200 or status == 204 then
      ok = ok + 1
   elseif status == 403 then
      refused = refused + 1
   else
      failed = failed + 1
   end
   if body and body:find("<Message>", 1, true) then
      messages = messages + 1
   end
end

function done(summary, latency, requests)
   local totals = {ok = 0, refused = 0, failed = 0, messages = 0}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
      '"max_us": %d, "mean_us": %.1f, "ok": %d, "refused": %d, "failed": %d, "messages": %d, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, totals.ok, totals.refused, totals.failed,
      totals.messages, errors.connect, errors.read, errors.write, errors.timeout))
end
