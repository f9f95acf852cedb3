-- wrk script of benchmarks/serve.py: GET the paths listed in a file, one a line, in turn
-- (each wrk thread from its own offset); with a rate, pace the thread's requests to that many
-- per second, sent on a fixed schedule over whichever of its connections is free. Prints one
-- JSON line: requests, seconds, latency percentiles, status counts, socket errors.
--
--   wrk -t1 -c50 -d15s --timeout 10s -s serve.lua URL -- PATHS_FILE [RATE_PER_THREAD]
--
-- wrk times each request from the moment it is written, so while the server keeps up with
-- the schedule the latencies are the server's; when it falls behind, the rate reached is
-- below the rate asked for, which benchmarks/serve.py reports.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } serve_timespec;
int clock_gettime(int clock_id, serve_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("serve_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(paths, line) end
  end
  if #paths == 0 then error("no paths in " .. args[1]) end
  interval = 0
  if args[2] and tonumber(args[2]) > 0 then interval = 1000 / tonumber(args[2]) end
  position = offset % #paths
  sent = 0
  statuses = {}
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end

function delay()
  if interval == 0 then return 0 end
  if start == nil then start = now_ms() end
  local wait = start + sent * interval - now_ms()
  sent = sent + 1
  if wait < 1 then return 0 end
  return math.floor(wait)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
    '"max_ms": %.2f, "statuses": {%s}, "socket_errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout))
end
