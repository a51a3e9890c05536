-- Loaded by bench/wrk.py. Arguments after `--`: "report=PATH" (where the summary goes as JSON),
-- optionally "range=SIZE" (each request asks for a random 64 KiB window of a SIZE-byte file,
-- as a seeking video player does). Extra headers come from wrk's -H options.
local report_path = nil
local range_size = nil
local window = 65536

function init(args)
  for _, arg in ipairs(args) do
    local key, value = arg:match("^(%w+)=(.*)$")
    if key == "report" then report_path = value end
    if key == "range" then range_size = tonumber(value) end
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  if range_size == nil then
    return wrk.format()
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
