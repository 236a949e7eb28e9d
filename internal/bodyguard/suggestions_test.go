package bodyguard

import "testing"

func TestScrubSuggestions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"Cannot query field \"usr\" on type \"Query\". Did you mean \"user\" or \"users\"?"`, `"Cannot query field \"usr\" on type \"Query\"."`},
		{`"Unknown argument \"frist\" on field \"Query.orders\". Did you mean \"first\"?"`, `"Unknown argument \"frist\" on field \"Query.orders\"."`},
		{`"Value \"ACTIV\" does not exist in \"Status\" enum. did you mean the enum value \"ACTIVE\"?"`, `"Value \"ACTIV\" does not exist in \"Status\" enum."`},
		{`"Order not found"`, `"Order not found"`},
		{`42`, `42`},
	} {
		out, err := ScrubSuggestions(nil, []byte(tc.in))
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.in, out, err, tc.want)
		}
	}
}
