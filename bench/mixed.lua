-- A day's mix: 1 % sign-in, 9 % refresh with rotation, 90 % token checks (reused tokens).
package.path = package.path .. ";bench/?.lua"
require("common")
function init(args)
  users = read_lines(os.getenv("USERS"))
  checks = read_lines(os.getenv("TOKENS"))
  free = thread_lines(os.getenv("REFRESH"))
  head, tail, i = 1, #free, 0
end
function request()
  i = i + 1
  local r = i % 100
  if r == 0 then
    local body = string.format('{"login":"%s","password":"bench password 123"}', users[(i % #users) + 1])
    return wrk.format("POST", "/api/v1/auth/signin/", { ["Content-Type"] = "application/json" }, body)
  elseif r <= 9 and free[head] then
    local token = free[head]
    free[head] = nil
    head = head + 1
    return wrk.format("POST", "/api/v1/auth/custom-refresh/", { ["Cookie"] = "refresh_token=" .. token })
  end
  return wrk.format("GET", "/api/v1/auth/verify/", { ["Authorization"] = "Bearer " .. checks[(i % #checks) + 1] })
end
function response(status, headers, body)
  local c = headers["Set-Cookie"] or headers["set-cookie"] or ""
  local token = c:match("refresh_token=([^;]+)")
  if token and c:find("Path=/api/v1/auth/", 1, true) then
    tail = tail + 1
    free[tail] = token
  end
end
done = report
