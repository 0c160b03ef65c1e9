-- tracktion benchmark request script for wrk (https://github.com/wg/wrk), used by `python -m bench`.
--
-- wrk <options> -s bench/lua/load.lua <url> -- <METHOD> <TOKEN> <BODY_FILE> <POOL> [<RUN_ID>]
--
--   METHOD     GET or POST
--   TOKEN      bearer token sent as `Authorization: Bearer <TOKEN>` ("-" = no Authorization header)
--   BODY_FILE  request body template ("-" = no body). Placeholders, replaced on every request:
--                @N@  an identifier unique to this request (run id, wrk thread number, per-thread counter)
--                @K@  a key cycling through 0 .. POOL-1 (e.g. a profile's customId out of a fixed pool)
--   POOL       size of the @K@ pool
--   RUN_ID     prefix of @N@, distinct per wrk invocation (default "r")
--
-- `done` prints one line starting with BENCH_JSON that the harness parses (latencies in microseconds).

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local counter = 0
local pieces = nil   -- literal, placeholder, literal, placeholder, ... (odd = literal, even = "N"/"K")
local static_body = nil
local pool = 1
local offset = 0
local prefix = "r-"

local function tokenize(text)
   local out = {}
   local pos = 1
   while true do
      local s, e, name = string.find(text, "@([NK])@", pos)
      if s == nil then
         table.insert(out, string.sub(text, pos))
         return out
      end
      table.insert(out, string.sub(text, pos, s - 1))
      table.insert(out, name)
      pos = e + 1
   end
end

function init(args)
   wrk.method = args[1]
   if args[2] ~= nil and args[2] ~= "-" then
      wrk.headers["Authorization"] = "Bearer " .. args[2]
   end
   pool = tonumber(args[4] or "1") or 1
   if pool < 1 then pool = 1 end
   offset = (tonumber(tid) or 0) * 7919
   prefix = (args[5] or "r") .. "-" .. tostring(tid or 0) .. "-"
   if args[3] ~= nil and args[3] ~= "-" then
      local f = assert(io.open(args[3], "rb"))
      local text = f:read("*a")
      f:close()
      wrk.headers["Content-Type"] = "application/json"
      local parts = tokenize(text)
      if #parts == 1 then
         static_body = parts[1]
      else
         pieces = parts
      end
   end
   if pieces == nil then
      -- Static: wrk builds the request once and resends it (no Lua call per request).
      wrk.body = static_body
   else
      -- Dynamic: wrk sees a `request` function (it checks after init) and calls it per request.
      request = dynamic_request
   end
end

local function build()
   counter = counter + 1
   local n = prefix .. counter
   local k = tostring((offset + counter) % pool)
   local out = {}
   for i, piece in ipairs(pieces) do
      if i % 2 == 1 then
         out[i] = piece
      elseif piece == "N" then
         out[i] = n
      else
         out[i] = k
      end
   end
   return table.concat(out)
end

function dynamic_request()
   return wrk.format(nil, nil, nil, build())
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"max":%d,"mean":%.3f,"stdev":%.3f,' ..
      '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.max, latency.mean, latency.stdev,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
