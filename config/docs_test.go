package config

import (
	"os"
	"strings"
	"testing"
)

// The configuration guide has one table row per setting, with the same flag
// and default, and no row for a setting that does not exist, so the guide
// cannot drift from the code.
func TestGuideListsEverySetting(t *testing.T) {
	const guide = "../docs/configuration.md"
	b, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{} // variable -> cells
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 5 {
			t.Errorf("%s: row with %d cells, want 5 (Variable, Flag, Default, Meaning, Example): %s", guide, len(cells), line)
			continue
		}
		env := strings.Trim(cells[0], "`")
		if _, dup := rows[env]; dup {
			t.Errorf("%s: %s has two rows", guide, env)
		}
		rows[env] = cells
	}

	settings := Config{}.Settings()
	for _, s := range settings {
		cells, ok := rows[s.Env]
		if !ok {
			t.Errorf("%s has no row for %s", guide, s.Env)
			continue
		}
		delete(rows, s.Env)
		if want := "`" + s.Flag + "`"; cells[1] != want {
			t.Errorf("%s: %s flag %s; want %s", guide, s.Env, cells[1], want)
		}
		want := "`" + s.Default + "`"
		if s.Default == "" {
			want = "*(empty)*"
		}
		if cells[2] != want {
			t.Errorf("%s: %s default %s; want %s", guide, s.Env, cells[2], want)
		}
	}
	for env := range rows {
		t.Errorf("%s has a row for %s, which is not a setting", guide, env)
	}
}
