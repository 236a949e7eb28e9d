package bodyguard

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// suggestion is a GraphQL server's field suggestion in an error message:
// `Cannot query field "usr" on type "Query". Did you mean "user"?` (graphql-js,
// gqlgen, graphql-java, Hot Chocolate word it the same way).
var suggestion = regexp.MustCompile(`\s*(?i:did you mean)\b[^?]*\?`)

// SuggestionsPath is where a GraphQL response carries its error messages.
const SuggestionsPath = "errors[*].message"

// ScrubSuggestions is a respfilter RewriteValue for SuggestionsPath: the
// JSON string raw, with its "Did you mean ...?" sentences cut, appended to
// dst. With introspection off, suggestions would still publish the schema
// a field at a time to whoever guesses near it.
func ScrubSuggestions(dst, raw []byte) ([]byte, error) {
	if !bytes.Contains(bytes.ToLower(raw), []byte("did you mean")) {
		return append(dst, raw...), nil
	}
	var msg string
	if err := json.Unmarshal(raw, &msg); err != nil {
		return append(dst, raw...), nil // not a string: left as it is
	}
	out, err := json.Marshal(suggestion.ReplaceAllString(msg, ""))
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}
