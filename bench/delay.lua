-- bench/proxy.sh's moderate fixed load: each connection waits DELAY_MS (default 2) after every
-- answer before it sends again, so 4 connections offer about 2,000 requests/s whatever the server.
local pause = tonumber(os.getenv("DELAY_MS") or "2")
function delay()
  return pause
end
