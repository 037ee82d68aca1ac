-- Token checks: GET <path> with a Bearer token. TOKENS: file of tokens; MODE=reused cycles
-- through them (a pool of signed-in users), MODE=distinct never presents one twice.
package.path = package.path .. ";bench/?.lua"
require("common")
function init(args)
  local all = read_lines(os.getenv("TOKENS"))
  distinct = os.getenv("MODE") == "distinct"
  tokens = all
  if distinct then
    -- Each thread its own slice, so no token is presented twice across threads either.
    tokens = thread_slice(all)
  end
  path = os.getenv("CHECK_PATH") or "/api/v1/auth/verify/"
  i = 0
end
function request()
  i = i + 1
  local n = distinct and i or ((i - 1) % #tokens) + 1
  if n > #tokens then n = ((n - 1) % #tokens) + 1 end
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[n] })
end
done = report
