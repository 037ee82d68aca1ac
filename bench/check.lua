-- Token checks: GET <path> with a Bearer token. TOKENS: file of tokens; MODE=reused cycles
-- through them (a pool of signed-in users), MODE=distinct never presents one twice.
-- Reused requests are formatted once in init: wrk shares the two cores with the server, and
-- formatting each request in Lua would take CPU the bare-handler ceiling run does not spend.
-- FORMAT_EACH=1 formats every request anyway (the JWT ceilings, compared with the distinct run).
package.path = package.path .. ";bench/?.lua"
require("common")
function init(args)
  distinct = os.getenv("MODE") == "distinct"
  if distinct then
    -- Each thread its own slice, so no token is presented twice across threads either.
    tokens = thread_lines(os.getenv("TOKENS"))
  else
    tokens = read_lines(os.getenv("TOKENS"))
  end
  path = os.getenv("CHECK_PATH") or "/api/v1/auth/verify/"
  prepared = {}
  each = distinct or os.getenv("FORMAT_EACH") == "1"
  if not each then
    for k, token in ipairs(tokens) do
      prepared[k] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
    end
  end
  i = 0
end
function request()
  i = i + 1
  if not each then
    return prepared[((i - 1) % #prepared) + 1]
  end
  local n = i
  if n > #tokens then n = ((n - 1) % #tokens) + 1 end
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[n] })
end
done = report
