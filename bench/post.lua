-- POST with an empty body (the bare "204 + cookie" ceiling).
package.path = package.path .. ";bench/?.lua"
require("common")
wrk.method = "POST"
done = report
