// Renders the API's OpenAPI description with Swagger UI. Its own
// "Try it out" is off: the console above sends requests through the
// gateway and explains the gateway's errors.
(function () {
  "use strict";
  var el = document.getElementById("reference");
  if (!el || typeof SwaggerUIBundle !== "function") { return; }
  SwaggerUIBundle({
    url: el.getAttribute("data-spec"),
    domNode: el,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    supportedSubmitMethods: [],
    deepLinking: false,
    validatorUrl: null,
    defaultModelsExpandDepth: 1
  });
})();
