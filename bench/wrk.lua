-- Loaded by bench/wrk.py, configured through the environment (done() runs in wrk's main Lua
-- state, which never sees init()'s arguments): WRK_REPORT is where the summary goes as JSON;
-- WRK_RANGE_SIZE, if set, makes each request ask for a random 64 KiB window of a file that
-- size, as a seeking video player does. WRK_FOLLOW_VERSION=1 replays the task page's status poll:
-- the URL carries the version the page shows (?v=...), and a 200 (the box swapped in) brings the
-- next one, as htmx's swap does in the browser; a 204 leaves it. Extra headers come from wrk's -H.
local report_path = os.getenv("WRK_REPORT")
local range_size = tonumber(os.getenv("WRK_RANGE_SIZE") or "")
local follow_version = os.getenv("WRK_FOLLOW_VERSION") == "1"
local window = 65536
local path = nil  -- the URL path the next status poll asks for, once a swap changed it

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

if follow_version then
  -- Defined only when needed: with response() wrk reads every body, which costs client CPU.
  function response(status, headers, body)
    if status == 200 or status == 286 then
      local version = body:match('/status%?v=([^"&]+)"')
      if version then path = (path or wrk.path):gsub("v=[^&]*", "v=" .. version, 1) end
    end
  end
end

function request()
  if range_size == nil then
    return wrk.format(nil, path)
  end
  local first = math.random(0, math.max(0, range_size - window))
  local last = math.min(range_size, first + window) - 1
  return wrk.format(nil, nil, { ["Range"] = "bytes=" .. first .. "-" .. last })
end

function done(summary, latency, requests)
  -- latency is in microseconds; percentiles 1..99 plus the tail keep the distribution in the results.
  local points = {}
  for p = 1, 99 do points[#points + 1] = string.format('"%d": %d', p, latency:percentile(p)) end
  for _, p in ipairs({ 99.9, 99.99 }) do
    points[#points + 1] = string.format('"%s": %d', tostring(p), latency:percentile(p))
  end
  local e = summary.errors
  local text = string.format(
    '{"duration_us": %d, "requests": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d}, "latency_us": {"min": %d, "max": %d, "mean": %.1f, "stdev": %.1f, '
      .. '"percentiles": {%s}}}',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(points, ", "))
  local file = assert(io.open(report_path, "w"))
  file:write(text)
  file:close()
end
