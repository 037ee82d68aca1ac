-- Refresh with rotation: every request presents a session's current refresh cookie and the
-- response's new cookie replaces it, so each request is a real rotation (never the grace path).
package.path = package.path .. ";bench/?.lua"
require("common")
function init(args)
  free = thread_lines(os.getenv("TOKENS"))
  head, tail = 1, #free
end
function request()
  local token = free[head]
  free[head] = nil
  head = head + 1
  return wrk.format("POST", "/api/v1/auth/custom-refresh/", { ["Cookie"] = "refresh_token=" .. (token or "exhausted") })
end
function response(status, headers, body)
  local c = headers["Set-Cookie"] or headers["set-cookie"] or ""
  local token = c:match("refresh_token=([^;]+)")
  if status == 204 and token then
    tail = tail + 1
    free[tail] = token
  end
end
done = report
