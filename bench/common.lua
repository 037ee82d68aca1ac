-- Shared by the scenario scripts: thread numbering, token files, and one JSON line with the
-- figures bench/run.py reads.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

-- This thread's share of a file's lines (every n-th one), so threads never present the same
-- item. Read straight into the share: with hundreds of thousands of tokens, holding every
-- thread's lines in each thread made LuaJIT's heap (and its collector's pauses) several times
-- larger.
function thread_lines(path)
  local threads = tonumber(os.getenv("THREADS") or "2")
  local mine, k = {}, 0
  for line in io.lines(path) do
    if #line > 0 then
      k = k + 1
      if (k - id) % threads == 0 then mine[#mine + 1] = line end
    end
  end
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
