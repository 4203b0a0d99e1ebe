-- Shared by every workload: number the threads, and report one JSON line that bench/run.py reads.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function report(summary, latency, extra)
  local errors = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"p50_us":%d', latency:percentile(50)),
    string.format('"p99_us":%d', latency:percentile(99)),
    string.format('"errors":%d', errors.connect + errors.read + errors.write + errors.status + errors.timeout),
  }
  if extra then
    for key, value in pairs(extra) do
      table.insert(parts, string.format('"%s":%s', key, value))
    end
  end
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end

function done(summary, latency, requests)
  report(summary, latency)
end

bench_threads = threads
