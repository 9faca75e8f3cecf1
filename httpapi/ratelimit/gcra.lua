-- GCRA token bucket, one key, atomic (see Redis in redis.go).
--
-- KEYS[1]  the bucket's key; its value is the TAT (theoretical arrival time):
--          the moment, in Unix microseconds, at which the bucket is full again
-- ARGV[1]  now, Unix microseconds (the caller's clock)
-- ARGV[2]  interval: microseconds per token (Per/Count, rounded up)
-- ARGV[3]  burst: Count
-- ARGV[4]  mode: "allow", "check" or "hit"
--
-- Returns {ok, retry_after_us}. The bucket holds burst - (TAT - now)/interval
-- tokens, so one token is available when TAT - now <= (burst-1)*interval.
-- Every number stays an integer below 2^53, so Lua's doubles are exact.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local mode = ARGV[4]

local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then
  tat = now
end
local over = tat - now - (burst - 1) * interval -- > 0: wait this long for a token

if mode == 'check' then
  if over > 0 then
    return {0, over}
  end
  return {1, 0}
elseif mode == 'allow' then
  if over > 0 then
    return {0, over}
  end
  tat = tat + interval
elseif mode == 'hit' then
  -- The event has happened: take the token even if there is none, but keep
  -- the debt under one whole allowance (as Memory does), so the longest
  -- wait is about twice Per.
  if tat - now < 2 * burst * interval then
    tat = tat + interval
  end
else
  return redis.error_reply('unknown mode')
end

-- The key means nothing once the bucket is full again: expire it then.
local ttl = math.ceil((tat - now) / 1000)
if ttl < 1 then
  ttl = 1
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', ttl))
return {1, 0}
