-- Argo CD health of a healthgate.dev HealthCheck, from the status contract
-- (docs/operator.md, "Status for GitOps tools"):
--   Healthy      Ready=True (every critical dependency healthy; a failing
--                non-critical probe is named in the message)
--   Progressing  no verdict yet for the current generation: no status, an
--                observedGeneration behind metadata.generation, Reconciling=True,
--                Ready=Unknown (probes pending), or a Secret healthgate could not
--                read yet (SecretUnavailable: healthgate's own trouble)
--   Degraded     Stalled=True, a configuration error (InvalidSpec, a Secret or key
--                that does not exist, is forbidden or not labelled for probes), or
--                a critical dependency failing (ProbeFailing)
local hs = {}

local function conditions(status)
  local by_type = {}
  if status ~= nil and status.conditions ~= nil then
    for _, c in ipairs(status.conditions) do
      if c.type ~= nil then
        by_type[c.type] = c
      end
    end
  end
  return by_type
end

local function text(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return default
end

local status = obj.status
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for healthgate's first verdict"
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for healthgate to probe generation " .. tostring(generation)
  return hs
end

local c = conditions(status)
if c.Stalled ~= nil and c.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(c.Stalled, "Stalled: " .. tostring(c.Stalled.reason))
  return hs
end
if c.Reconciling ~= nil and c.Reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(c.Reconciling, "Waiting for the first verdict of this generation")
  return hs
end

local ready = c.Ready
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for healthgate's first verdict"
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  if c.Degraded ~= nil and c.Degraded.status == "True" then
    hs.message = "Ready; non-critical probes failing: " .. text(c.Degraded, "")
  else
    hs.message = text(ready, "Ready")
  end
  return hs
end

local configuration_errors = {
  InvalidSpec = true, SecretNotFound = true, SecretForbidden = true, SecretNotAllowed = true,
}
if ready.status == "False" and (configuration_errors[ready.reason] or ready.reason == "ProbeFailing") then
  hs.status = "Degraded"
  hs.message = tostring(ready.reason) .. ": " .. text(ready, "")
  return hs
end
hs.status = "Progressing"
hs.message = text(ready, "Waiting for healthgate's verdict")
return hs
