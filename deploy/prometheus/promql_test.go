package prometheus

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promqlWords are the PromQL words that are not metric names: aggregation
// operators (which may be followed by "by (...)" before their parenthesis),
// set and comparison keywords, modifiers, and the number literals.
var promqlWords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// labelListWords are followed by a parenthesised list of label names.
var labelListWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names a PromQL expression selects, in
// order of first appearance. It is a small lexer, not a parser: it skips
// strings, label matchers ({...}), ranges ([...]), numbers, Grafana
// variables ($job), function names (an identifier followed by "("), label
// lists after by/without/on/ignoring/group_left/group_right, and keywords.
// What remains are the names of vector selectors. Grafana's
// label_values(selector, label) is read as its selector.
func metricNames(expr string) ([]string, error) {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if inner, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		inner = strings.TrimSuffix(strings.TrimSpace(inner), ")")
		if i := strings.LastIndexByte(inner, ','); i >= 0 && !strings.ContainsAny(inner[i:], "{}\"") {
			inner = inner[:i]
		}
		expr = inner
	}
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{':
			j, err := skipTo(s, i, '}')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := skipTo(s, i, ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '$':
			i++
			for i < len(s) && (isIdent(s[i]) || s[i] == '{' || s[i] == '}') {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
				k++
			}
			switch {
			case labelListWords[word]:
				if k < len(s) && s[k] == '(' {
					end, err := skipTo(s, k, ')')
					if err != nil {
						return nil, err
					}
					j = end
				}
			case promqlWords[strings.ToLower(word)]:
			case k < len(s) && s[k] == '(': // a function call
			default:
				add(word)
			}
			i = j
		default:
			i++ // operators and punctuation
		}
	}
	return names, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// skipString returns the index just past the string literal at s[i].
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d in %q", i, s)
}

// skipTo returns the index just past the close that ends the group opened at
// s[i], skipping string literals (which may hold the close character).
func skipTo(s string, i int, close byte) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case close:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed %q at %d in %q", s[i], i, s)
}

func TestMetricNamesLexer(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="latchkey"} == 0`, []string{"up"}},
		{`sum by (job, outcome) (rate(latchkey_refreshes_total[5m]))`, []string{"latchkey_refreshes_total"}},
		{`sum(rate(x_total{a="}b", c=~"[d]"}[$__rate_interval])) by (job)`, []string{"x_total"}},
		{"job_outcome:a:rate5m{outcome!~\"rotated|reissued\"}\n  / ignoring (outcome) group_left\njob:b:rate5m",
			[]string{"job_outcome:a:rate5m", "job:b:rate5m"}},
		{`a > 0.1 and on (job) b > 0.05`, []string{"a", "b"}},
		{`histogram_quantile(0.99, sum by (route, le) (h_bucket{job="$job"}))`, []string{"h_bucket"}},
		{`60 * r:rate5m{job="$job"} offset 5m`, []string{"r:rate5m"}},
		{`topk(3, m) / ignoring(code) group_left sum(m)`, []string{"m"}},
		{`sum without (instance) (m_total) or vector(0)`, []string{"m_total"}},
		{`label_values(latchkey_http_requests_total, job)`, []string{"latchkey_http_requests_total"}},
		{`label_values(latchkey_database_up{job="$job"}, instance)`, []string{"latchkey_database_up"}},
		{`1e3 * Inf + NaN`, nil},
	} {
		got, err := metricNames(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{`m{job="x"`, `m{job="x}`, `rate(m[5m)`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q): no error", bad)
		}
	}
}
