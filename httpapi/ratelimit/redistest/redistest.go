// Package redistest connects tests to the Redis named by
// LATCHKEY_TEST_REDIS_URL (redis://127.0.0.1:6379/0 in CI). Without it, or
// when that Redis does not answer, a test is skipped with one line saying
// so, except under CI=true, where a missing Redis fails the test: CI must
// not pass by skipping.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-dev/latchkey/httpapi/ratelimit"
)

// Env is the variable naming the test Redis.
const Env = "LATCHKEY_TEST_REDIS_URL"

// URL returns the test Redis URL, or skips (fails under CI=true) when there
// is none or it does not answer PING.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(Env)
	if url == "" {
		unavailable(t, Env+" is not set")
		return ""
	}
	c, err := ratelimit.NewRedisClient(url)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		unavailable(t, "Redis at "+Env+" does not answer: "+err.Error())
	}
	return url
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("Redis required under CI=true: %s (source .ci/redis.sh)", why)
	}
	t.Skipf("skipping: %s (e.g. %s=redis://127.0.0.1:6379/0)", why, Env)
}

// Client returns a client of the test Redis, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c, err := ratelimit.NewRedisClient(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a key prefix no other test uses, under
// ratelimit.DefaultRedisPrefix, and deletes the test's keys when it ends.
func Prefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	p := ratelimit.DefaultRedisPrefix + "test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		keys, err := c.Keys(ctx, p+"*").Result()
		if err == nil && len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}
