output "resource_group" {
  description = "The resource group (pipeline-deploy azure --resource-group)."
  value       = azurerm_resource_group.main.name
}

output "web_app" {
  description = "The web app's name (pipeline-deploy azure --app)."
  value       = azurerm_linux_web_app.main.name
}

output "web_app_url" {
  description = "The production URL."
  value       = "https://${azurerm_linux_web_app.main.default_hostname}"
}

output "slot_urls" {
  description = "Each slot's URL, by name."
  value       = { for name, slot in azurerm_linux_web_app_slot.env : name => "https://${slot.default_hostname}" }
}

output "azure_client_id" {
  description = "The GitHub variable AZURE_CLIENT_ID: the application GitHub Actions signs in as."
  value       = azuread_application.github.client_id
}

output "azure_tenant_id" {
  description = "The GitHub variable AZURE_TENANT_ID."
  value       = data.azuread_client_config.current.tenant_id
}

output "azure_subscription_id" {
  description = "The GitHub variable AZURE_SUBSCRIPTION_ID."
  value       = var.subscription_id
}
