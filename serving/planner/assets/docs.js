// Swagger UI over the service's own OpenAPI document, with the online validator badge off
// (it would fetch validator.swagger.io) and nothing else loaded from outside.
window.ui = SwaggerUIBundle({
  url: "/docs.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
