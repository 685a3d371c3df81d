-- wrk script for benches/load/background.sh: every request carries the next pre-signed payment
-- from $BG_OUT (one PAYMENT-SIGNATURE value per line), so each is a fresh paid request. The
-- script stops the run's count being padded by replays: a request past the last payment is sent
-- without one (and answered 402, which wrk counts as non-2xx).
local payments = {}
for line in io.lines(os.getenv("BG_OUT")) do
  payments[#payments + 1] = line
end
local path = os.getenv("BG_PATH") or "/paid/item"
local i = 0

request = function()
  i = i + 1
  local p = payments[i]
  if p == nil then
    return wrk.format("GET", path)
  end
  return wrk.format("GET", path, { ["PAYMENT-SIGNATURE"] = p })
end
