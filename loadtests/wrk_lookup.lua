-- wrk script for the lookup benchmarks (loadtests.bench_wrk, loadtests.bench_notify).
--
-- Every request is a POST of one line, drawn at random, of the file GONGYU_WRK_BODIES (one JSON body per
-- line: a resident number or a consent id each), with the bearer token GONGYU_WRK_TOKEN (if set) to
-- GONGYU_WRK_PATH. GONGYU_WRK_DELAY_MS > 0 makes each connection wait that long between requests (an open
-- rate of connections * 1000 / delay per second at most: wrk2 is not on this box). At the end one line
-- "WRKJSON {...}" gives the counts and the latency percentiles in microseconds for the runner to parse.

local path = os.getenv("GONGYU_WRK_PATH") or "/v1/lookups"
local token = os.getenv("GONGYU_WRK_TOKEN") or ""
local delay_ms = tonumber(os.getenv("GONGYU_WRK_DELAY_MS") or "0") or 0
local bodies = {}
for line in io.lines(os.getenv("GONGYU_WRK_BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local headers = { ["Content-Type"] = "application/json" }
if #token > 0 then headers["Authorization"] = "Bearer " .. token end

function init(args)
  -- Each thread has its own Lua state: seed each differently so they do not walk the same sequence.
  local address = tonumber(string.match(tostring({}), "0x(%x+)") or "0", 16) or 0
  math.randomseed(os.time() + address)
end

function request()
  return wrk.format("POST", path, headers, bodies[math.random(#bodies)])
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
