-- wrk script: spreads requests over every generated check name.
--   WRK_MODE=ready    GET /ready/bench/cNNNNN     (healthgate's per-check readiness URL)
--   WRK_MODE=healthz  GET /healthz?check=NNNNN    (nginx, the machine's own limit)
--   HG_CHECKS         how many checks were generated (names c00000 .. c<N-1>)
--   WRK_DELAY_MS      pause each connection this long before every request (0 = closed loop)
-- Debian's wrk has no target-rate option; WRK_DELAY_MS caps the rate at about
-- connections * 1000 / (WRK_DELAY_MS + latency) requests per second.
local checks = tonumber(os.getenv("HG_CHECKS") or "10000")
local mode = os.getenv("WRK_MODE") or "ready"
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")

local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

init = function(args)
  math.randomseed(seed or 1)
end

request = function()
  local i = math.random(0, checks - 1)
  if mode == "healthz" then
    return wrk.format("GET", string.format("/healthz?check=%d", i))
  end
  return wrk.format("GET", string.format("/ready/bench/c%05d", i))
end

if pause > 0 then
  delay = function()
    return pause
  end
end
