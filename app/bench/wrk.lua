-- wrk script for app/bench/run.py: the request shape of each endpoint, and a one-line JSON summary.
-- Usage: wrk ... -s wrk.lua URL -- MODE USERS TAG   (MODE: get | retrieve | create; TAG: unique per run)

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  mode = args[1] or "get"
  users = tonumber(args[2] or "10000")
  tag = args[3] or "b"
  math.randomseed(os.time() * 1000 + tid)
  sent = 0
end

function request()
  if mode == "retrieve" then
    return wrk.format("GET", "/api/users/" .. math.random(1, users) .. "/")
  elseif mode == "create" then
    sent = sent + 1
    -- Unique per run, thread and request, at most 13 characters, never a seeded "seed-N" dni.
    local body = string.format('{"dni":"%s-%d-%d","name":"Bench user"}', tag, tid, sent)
    return wrk.format("POST", "/api/users/", { ["Content-Type"] = "application/json" }, body)
  end
  return wrk.format("GET")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
