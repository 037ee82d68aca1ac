-- Sign-in with a password (bcrypt-bound). USERS: file of emails; every password is the same.
package.path = package.path .. ";bench/?.lua"
require("common")
function init(args)
  users = read_lines(os.getenv("USERS"))
  i = 0
end
function request()
  i = i + 1
  local body = string.format('{"login":"%s","password":"bench password 123"}', users[(i % #users) + 1])
  return wrk.format("POST", "/api/v1/auth/signin/", { ["Content-Type"] = "application/json" }, body)
end
done = report
