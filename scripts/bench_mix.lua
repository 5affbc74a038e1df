-- wrk script of scripts/bench: sends a request mix in a cycle and checks every answer's status against the one
-- recorded for its request; prints the run's figures as one JSON line starting with "BENCH ".
--
-- Usage: wrk -tN -cN -d5s -s scripts/bench_mix.lua http://127.0.0.1:PORT -- MIX.lua [STATUS]
-- MIX.lua returns a table of {method, target, head, body, statuses} (scripts/bench_session.py writes it): the
-- statuses accepted for the request's answer. STATUS, if given, is the one status expected of every answer instead
-- (a target answering everything alike). Run one
-- connection per thread (-t equal to -c): a thread's requests and answers then strictly alternate, so each answer
-- is checked against the request it answers. Each thread starts at its own place in the cycle.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  local mix = dofile(args[1])
  local host = wrk.headers["Host"]
  local status = tonumber(args[2])
  messages, expected = {}, {}
  for i, r in ipairs(mix) do
    messages[i] = r.method .. " " .. r.target .. " HTTP/1.1\r\nHost: " .. host .. "\r\n" .. r.head .. "\r\n" .. r.body
    expected[i] = {}
    for _, accepted in ipairs(status and {status} or r.statuses) do
      expected[i][accepted] = true
    end
  end
  sent = (id - 1) % #messages
  mismatched = 0
end

function request()
  sent = sent % #messages + 1
  return messages[sent]
end

function response(status, headers, body)
  if not expected[sent][status] then
    mismatched = mismatched + 1
  end
end

function done(summary, latency, requests)
  local mismatches = 0
  for _, thread in ipairs(threads) do
    mismatches = mismatches + thread:get("mismatched")
  end
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
                         '"mismatches": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
                         summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
                         mismatches, e.connect, e.read, e.write, e.timeout))
end
