# The Entra ID application that GitHub Actions signs in as, with OIDC
# (no client secret): one federated credential for the branch the release
# pipeline runs on and one per GitHub environment.
data "azuread_client_config" "current" {}

resource "azuread_application" "github" {
  display_name = "github-${var.name}"
  owners       = [data.azuread_client_config.current.object_id]
}

resource "azuread_service_principal" "github" {
  client_id = azuread_application.github.client_id
  owners    = [data.azuread_client_config.current.object_id]
}

resource "azuread_application_federated_identity_credential" "branch" {
  #checkov:skip=CKV_AZURE_249:The subject is exact, repo:<owner>/<name>:ref:refs/heads/develop, built from var.github_repository, which a static scan cannot resolve.
  application_id = azuread_application.github.id
  display_name   = "github-develop"
  description    = "GitHub Actions on the develop branch of ${var.github_repository}"
  audiences      = ["api://AzureADTokenExchange"]
  issuer         = "https://token.actions.githubusercontent.com"
  subject        = "repo:${var.github_repository}:ref:refs/heads/develop"
}

resource "azuread_application_federated_identity_credential" "environment" {
  #checkov:skip=CKV_AZURE_249:The subject is exact, repo:<owner>/<name>:environment:<env>, built from var.github_repository, which a static scan cannot resolve.
  for_each       = var.github_environments
  application_id = azuread_application.github.id
  display_name   = "github-env-${each.key}"
  description    = "GitHub Actions jobs in the ${each.key} environment of ${var.github_repository}"
  audiences      = ["api://AzureADTokenExchange"]
  issuer         = "https://token.actions.githubusercontent.com"
  subject        = "repo:${var.github_repository}:environment:${each.key}"
}

# Deploy, configure and swap the web app and its slots; nothing else.
resource "azurerm_role_assignment" "github_website_contributor" {
  scope                = azurerm_linux_web_app.main.id
  role_definition_name = "Website Contributor"
  principal_id         = azuread_service_principal.github.object_id
}
