package problem

import "net/http"

// The catalogue. Slugs are part of the public contract: never rename one.
var (
	BadRequest = Type{Slug: "bad-request", Title: "Bad request", Status: http.StatusBadRequest,
		Cause: "The request could not be understood: a malformed header, a path the gateway will not normalise (an encoded slash or backslash, a NUL, a `..` climbing above the root) or an invalid value.",
		Fix:   "Send a well-formed request; use plain paths such as /v1/orders/42, with / between segments and no `%2F`, `%5C` or `%00`."}
	MalformedRequest = Type{Slug: "malformed-request", Title: "Malformed HTTP request", Status: http.StatusBadRequest,
		Cause: "The request's HTTP/1.1 framing or header syntax is ambiguous: both Content-Length and Transfer-Encoding, more than one Content-Length, a transfer coding other than chunked, a folded header line, a bare CR or LF, a NUL or other control byte, or an invalid header name. Proxies that read such a request differently disagree on where it ends, which is how request smuggling works, so the gateway refuses it and closes the connection. The same problem answers a request target that is not a valid URI (a % in the path not followed by two hex digits) and an HTTP/1.1 request with no Host header, or more than one.",
		Fix:   "Frame the body with exactly one Content-Length or with Transfer-Encoding: chunked, put each header on its own line ending in CRLF, use token characters in header names, send exactly one Host, and escape a literal % in the path as %25. A well-behaved HTTP client library does all of this; look for a proxy or hand-written code that rewrites requests."}
	HTTPVersionNotSupported = Type{Slug: "http-version-not-supported", Title: "HTTP version not supported", Status: http.StatusHTTPVersionNotSupported,
		Cause: "The request line names a protocol version the gateway does not serve over HTTP/1: anything but HTTP/1.1 or HTTP/1.0 (net/http would read HTTP/1.2 to HTTP/1.9 as HTTP/1.1, which another server may frame differently).",
		Fix:   "Send HTTP/1.1, or HTTP/2 over TLS (ALPN h2) or as cleartext with prior knowledge."}
	NotFound = Type{Slug: "not-found", Title: "No route matches", Status: http.StatusNotFound,
		Cause: "No route of the gateway matches the request's host and path.",
		Fix:   "Check the URL and host name against the API documentation."}
	MethodNotAllowed = Type{Slug: "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Cause: "A route matches the path, but not with this HTTP method.",
		Fix:   "Use one of the methods listed in the `Allow` response header."}
	PayloadTooLarge = Type{Slug: "payload-too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
		Cause: "The request body is larger than the route allows. The limit is enforced while the body streams, whatever Content-Length says.",
		Fix:   "Send a smaller body, or split the upload into several requests."}
	RequestTimeout = Type{Slug: "request-timeout", Title: "Request body too slow", Status: http.StatusRequestTimeout,
		Cause: "The request body did not arrive within the time the gateway allows (slow-body guard).",
		Fix:   "Send the body promptly after the headers; for large uploads use a faster link or smaller parts."}
	HeadersTooLarge = Type{Slug: "headers-too-large", Title: "Request headers too large", Status: http.StatusRequestHeaderFieldsTooLarge,
		Cause: "The request line and headers together exceed the server's limit.",
		Fix:   "Send fewer or shorter headers and cookies."}
	RateLimited = Type{Slug: "rate-limited", Title: "Too many requests", Status: http.StatusTooManyRequests,
		Cause: "The client sent more requests than a rate limit of this endpoint allows. `detail` names the limit; the `RateLimit` and `RateLimit-Policy` headers give the budget and when it refills.",
		Fix:   "Wait for the time given in `Retry-After`, then spread requests out; watch the `RateLimit` header's `r` (remaining) to stay under the limit."}
	QuotaExceeded = Type{Slug: "quota-exceeded", Title: "Quota used up", Status: http.StatusTooManyRequests,
		Cause: "The client has used the whole quota of requests this endpoint allows per hour, day or month. Quotas renew at the start of the next period.",
		Fix:   "Wait until the time given in `Retry-After` (the next period), or ask the API operator for a larger quota."}
	ConcurrencyLimited = Type{Slug: "concurrency-limited", Title: "Too many requests in progress", Status: http.StatusServiceUnavailable,
		Cause: "The client already has as many requests in progress as this endpoint allows at once, and no slot freed up within the wait the gateway allows.",
		Fix:   "Wait for earlier requests to finish before sending more; retry after the time given in `Retry-After`."}
	AbuseBlocked = Type{Slug: "blocked", Title: "Refused for repeated abuse", Status: http.StatusTooManyRequests,
		Cause: "This client kept sending requests the gateway refused (over its limits, or with bad credentials), so for now every request from it is refused (graduated response).",
		Fix:   "Stop sending for the time given in `Retry-After`, then respect the rate limits; requests sent while blocked count as further offences and lead to a ban."}
	Banned = Type{Slug: "banned", Title: "Client banned", Status: http.StatusForbidden,
		Cause: "This client was banned for a period after repeated abuse; each new ban lasts longer.",
		Fix:   "Wait until the ban ends (`Retry-After`). If the ban is a mistake, ask the API operator, who can list and lift bans."}
	Overloaded = Type{Slug: "overloaded", Title: "Service overloaded", Status: http.StatusServiceUnavailable,
		Cause: "The service behind this endpoint is answering slower than usual, so the gateway admits fewer requests to it (adaptive load shedding) and turned this one away; anonymous and low-priority requests are turned away first.",
		Fix:   "Retry after the time given in `Retry-After`, with exponential backoff and jitter; retrying at once adds to the overload."}
	BotBlocked = Type{Slug: "bot-blocked", Title: "Automated client refused", Status: http.StatusForbidden,
		Cause: "The request matched a bot-defence rule of this endpoint (named in `detail`): for example a script presenting itself as a browser.",
		Fix:   "Call the API as what you are: an honest User-Agent and, for automated access, the credentials the API operator issues for it."}
	ChallengeRequired = Type{Slug: "challenge-required", Title: "Browser challenge required", Status: http.StatusForbidden,
		Cause: "This endpoint asks clients that look automated to solve a browser challenge first, and this client does not accept HTML, so it cannot.",
		Fix:   "Open the page in a browser, or for automated access use the API credentials the API operator issues; a verified crawler is let through by its operator's allow-list."}
	ThreatListed = Type{Slug: "threat-listed", Title: "Client on a threat list", Status: http.StatusForbidden,
		Cause: "The client's address, or its TLS fingerprint, is on a threat-intelligence list (a blocklist of addresses that attack sites) that this endpoint refuses.",
		Fix:   "If the address was listed by mistake (a shared or reassigned address, a VPN exit), ask the list's publisher to delist it, or give the API operator the request id."}
	UnsupportedMediaType = Type{Slug: "unsupported-media-type", Title: "Unsupported body type", Status: http.StatusUnsupportedMediaType,
		Cause: "The request body's Content-Type is not one this endpoint accepts.",
		Fix:   "Send the body in one of the media types listed in `detail`, with a matching Content-Type header."}
	InvalidBody = Type{Slug: "invalid-body", Title: "Request body rejected", Status: http.StatusBadRequest,
		Cause: "The request body is malformed, or breaks a structure limit of this endpoint (nesting depth, keys, array length, string length, duplicate keys).",
		Fix:   "Fix the body at the places given in `errors` (JSON pointers) and send it again."}
	SchemaViolation = Type{Slug: "schema-violation", Title: "Request does not match the API description", Status: http.StatusBadRequest,
		Cause: "A parameter, header, cookie or the body of the request does not match the endpoint's OpenAPI description.",
		Fix:   "Fix the places listed in `errors` (path.NAME, query.NAME, header.NAME, body#/json/pointer) as the API documentation describes them."}
	WAFBlocked = Type{Slug: "waf-blocked", Title: "Request refused by the web application firewall", Status: http.StatusForbidden,
		Cause: "The request matched attack signatures of the OWASP Core Rule Set (SQL injection, script injection, path traversal, command injection ...) above the endpoint's threshold.",
		Fix:   "If the request is legitimate, give the API operator the request id: the rule can be excluded for the field concerned. Otherwise, do not retry."}
	ResponseWithheld = Type{Slug: "response-withheld", Title: "Response withheld by the web application firewall", Status: http.StatusBadGateway,
		Cause: "The upstream's response matched the data-leakage rules of the OWASP Core Rule Set (an SQL, PHP, Java or IIS error page, a stack trace, source code, a web shell), so the gateway did not pass it on.",
		Fix:   "The request itself was not refused: the upstream failed in a way that would have exposed its internals. Give the API operator the request id; retrying may get a normal answer."}
	ResponseNotFiltered = Type{Slug: "response-not-filtered", Title: "Response could not be filtered", Status: http.StatusBadGateway,
		Cause: "This endpoint removes fields from, or masks personal data in, the upstream's responses, and this response could not go through those filters: it was larger than the filter holds, not valid JSON though labelled so, or compressed in a way the gateway cannot read. Rather than pass it on unfiltered, the gateway withheld it.",
		Fix:   "The request itself was fine. Ask for less at once (a smaller page), or give the API operator the request id: the upstream's response or the route's response limit needs fixing."}
	GraphQLRefused = Type{Slug: "graphql-refused", Title: "GraphQL request refused", Status: http.StatusBadRequest,
		Cause: "The GraphQL request is malformed, asks for more than this endpoint allows in one request (depth, aliases, fields, cost, batch size), or uses introspection where it is off.",
		Fix:   "Ask for less in one request (smaller pages, fewer nested fields and aliases) or split it; the place is in `errors`."}
	AddressDenied = Type{Slug: "address-denied", Title: "Address not allowed", Status: http.StatusForbidden,
		Cause: "The client's address, or the country it is in, is not allowed to call this endpoint by the API's address or country rules.",
		Fix:   "Call from an allowed network. If you should be allowed, give the API operator the request id; the rules themselves are not disclosed."}
	CORSRejected = Type{Slug: "cors-rejected", Title: "Cross-origin request not allowed", Status: http.StatusForbidden,
		Cause: "A browser asked (CORS preflight) whether a page on another origin may make this request, and the API's CORS settings do not allow that origin, method or header.",
		Fix:   "Call the API from an allowed origin, or ask the API operator to allow yours; server-side clients do not need CORS."}
	TooManyConnections = Type{Slug: "too-many-connections", Title: "Too many connections", Status: http.StatusServiceUnavailable,
		Cause: "The client address already holds as many open connections as the gateway allows one address.",
		Fix:   "Reuse connections (HTTP keep-alive or HTTP/2) instead of opening many in parallel."}
	BadGateway = Type{Slug: "bad-gateway", Title: "Upstream failed", Status: http.StatusBadGateway,
		Cause: "The upstream service could not be reached or answered with an invalid response.",
		Fix:   "Retry later; if it persists, contact the API operator with the request id."}
	NoHealthyUpstream = Type{Slug: "no-healthy-upstream", Title: "Service unavailable", Status: http.StatusServiceUnavailable,
		Cause: "No healthy instance of the upstream service is available, or its circuit breaker is open.",
		Fix:   "Retry after the time given in `Retry-After`."}
	GatewayTimeout = Type{Slug: "gateway-timeout", Title: "Upstream timed out", Status: http.StatusGatewayTimeout,
		Cause: "The upstream service did not answer in time.",
		Fix:   "Retry later, or ask for less data per request; contact the API operator with the request id if it persists."}
	Unavailable = Type{Slug: "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable,
		Cause: "The gateway is shutting down or not yet ready.",
		Fix:   "Retry after the time given in `Retry-After`."}
	Internal = Type{Slug: "internal-error", Title: "Internal error", Status: http.StatusInternalServerError,
		Cause: "The gateway failed while handling the request. The cause is logged under the request id.",
		Fix:   "Retry; if it persists, report the request id to the API operator."}
	Unauthorized = Type{Slug: "unauthorized", Title: "Authentication required", Status: http.StatusUnauthorized,
		Cause: "The request carries no valid credentials for this endpoint.",
		Fix:   "Send the credentials described in the `WWW-Authenticate` response header."}
	InvalidCredentials = Type{Slug: "invalid-credentials", Title: "Credentials refused", Status: http.StatusUnauthorized,
		Cause: "The request carries a token, key or certificate that the gateway refused: expired, not yet valid, for another audience or issuer, revoked, or not signed by a trusted key. `detail` and the `WWW-Authenticate` header say which check failed, never more.",
		Fix:   "Obtain a fresh token or key from your identity provider or API operator and retry."}
	Forbidden = Type{Slug: "forbidden", Title: "Not allowed", Status: http.StatusForbidden,
		Cause: "The caller is authenticated but the access policy of this endpoint does not allow the request: a scope or role it needs is missing, or a condition on the request (such as owning the resource) is not met. `detail` names what is missing when the client can act on it.",
		Fix:   "Request a token or key with the scope or role named in `detail`, or ask the API operator for access; do not retry unchanged."}
	InsufficientAuthentication = Type{Slug: "insufficient-authentication", Title: "Stronger authentication required", Status: http.StatusUnauthorized,
		Cause: "The token is valid but was obtained with an authentication too weak (acr) or too long ago (auth_time) for this endpoint (RFC 9470 step-up).",
		Fix:   "Authenticate again at the identity provider with the `acr_values` and `max_age` given in the `WWW-Authenticate` header, and retry with the new token."}
	AuthorizationUnavailable = Type{Slug: "authorization-unavailable", Title: "Authorization service unavailable", Status: http.StatusServiceUnavailable,
		Cause: "The external authorization service this endpoint relies on could not be asked, so the gateway neither allowed nor refused the request (it fails closed).",
		Fix:   "Retry after the time given in `Retry-After`."}
	CSRFRefused = Type{Slug: "csrf-refused", Title: "Cross-site request refused", Status: http.StatusForbidden,
		Cause: "A state-changing call to the developer portal or the security dashboard (rotating a key, lifting a ban) came without the page's CSRF token, with a token that does not match the browser's cookie, or from another site. Such calls are accepted only from the portal's or dashboard's own pages, so no other site can make a logged-in browser act.",
		Fix:   "Reload the page and repeat the action from it. A script calling these endpoints must send the page's token in the `X-CSRF-Token` header along with the cookie it was issued with."}
	Gone = Type{Slug: "gone", Title: "API version retired", Status: http.StatusGone,
		Cause: "This endpoint belonged to an API version that has reached its sunset date (announced beforehand in the `Deprecation` and `Sunset` response headers) and no longer answers.",
		Fix:   "Move to the version named in `detail` and in the `Link` header (rel=\"successor-version\"); the `deprecation` link explains the changes. Do not retry here."}
	MissingValue = Type{Slug: "missing-value", Title: "Request lacks a value the API needs", Status: http.StatusBadRequest,
		Cause: "This endpoint passes a value of the request on to its service (a header, a query parameter, a path parameter), and the request does not have it, or has a query parameter more than once. `detail` names the value.",
		Fix:   "Send the value named in `detail`, once, and retry."}
	UpstreamError = Type{Slug: "upstream-error", Title: "Upstream error", Status: http.StatusBadGateway,
		Cause: "The service behind this endpoint answered with an error, and the route replaces upstream error bodies with this problem so that no internal detail (a stack trace, a query) reaches clients. The status is the upstream's (or the one the route maps it to); `detail` says whether the service failed or refused the request.",
		Fix:   "For a 5xx, retry later; if it persists, report the request id to the API operator, whose logs hold the service's answer. For a 4xx, check the request against the API's documentation."}
	IdentityUnavailable = Type{Slug: "identity-provider-unavailable", Title: "Identity provider unavailable", Status: http.StatusServiceUnavailable,
		Cause: "The gateway could not reach the identity provider needed to check the credentials (its signing keys or its introspection endpoint), so it neither accepted nor refused them.",
		Fix:   "Retry after the time given in `Retry-After`; the credentials themselves may be fine."}
)

// Catalogue lists every problem type, in documentation order.
func Catalogue() []Type {
	return []Type{BadRequest, MalformedRequest, HTTPVersionNotSupported, Unauthorized, InvalidCredentials, InsufficientAuthentication, Forbidden, CSRFRefused, NotFound, MethodNotAllowed, Gone, PayloadTooLarge, RequestTimeout, HeadersTooLarge, RateLimited, QuotaExceeded, ConcurrencyLimited, AbuseBlocked, Banned, BotBlocked, ChallengeRequired, CORSRejected, AddressDenied, ThreatListed, UnsupportedMediaType, InvalidBody, SchemaViolation, GraphQLRefused, MissingValue, WAFBlocked, ResponseWithheld, ResponseNotFiltered,
		TooManyConnections, Overloaded, BadGateway, UpstreamError, NoHealthyUpstream, GatewayTimeout, IdentityUnavailable, AuthorizationUnavailable, Unavailable, Internal}
}
