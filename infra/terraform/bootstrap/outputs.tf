output "azurerm_backend_config" {
  description = "The -backend-config values for ../azure."
  value = {
    resource_group_name  = azurerm_resource_group.state.name
    storage_account_name = azurerm_storage_account.state.name
    container_name       = azurerm_storage_container.state.name
  }
}

output "gcs_backend_config" {
  description = "The -backend-config value for ../google."
  value = {
    bucket = google_storage_bucket.state.name
  }
}
