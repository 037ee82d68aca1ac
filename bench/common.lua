-- Shared by the scenario scripts: thread numbering, token files, and one JSON line with the
-- figures bench/run.py reads.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

-- This thread's share of a list (every n-th item), so threads never present the same item.
function thread_slice(all)
  local threads = tonumber(os.getenv("THREADS") or "2")
  local mine = {}
  for k = id, #all, threads do mine[#mine + 1] = all[k] end
  return mine
end
function read_lines(path)
  local t = {}
  for line in io.lines(path) do
    if #line > 0 then t[#t + 1] = line end
  end
  return t
end

function report(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
