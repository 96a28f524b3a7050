resource "azurerm_resource_group" "state" {
  name     = "rg-pipeline-tfstate"
  location = var.azure_location
}

resource "azurerm_storage_account" "state" {
  #checkov:skip=CKV_AZURE_33:Queue logging does not apply: the account holds blobs (state) only.
  #checkov:skip=CKV_AZURE_59:Terraform reaches the state over the public endpoint with Entra ID auth; no shared keys.
  #checkov:skip=CKV_AZURE_206:Locally redundant storage plus blob versioning is enough for state.
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys are enough; state holds no customer data.
  #checkov:skip=CKV2_AZURE_33:A private endpoint needs a network the developers' machines are in.
  #checkov:skip=CKV2_AZURE_40:Shared keys stay on for the first init; backend.tf uses use_azuread_auth.
  #checkov:skip=CKV2_AZURE_41:No SAS tokens are issued for the state account.
  #checkov:skip=CKV_AZURE_244:Local users are not created on this account.
  name                            = var.state_storage_account
  resource_group_name             = azurerm_resource_group.state.name
  location                        = azurerm_resource_group.state.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 30
    }

    container_delete_retention_policy {
      days = 30
    }
  }
}

resource "azurerm_storage_container" "state" {
  #checkov:skip=CKV2_AZURE_21:Blob read logging would need a Log Analytics workspace; versioning keeps every state.
  name                  = "tfstate"
  storage_account_id    = azurerm_storage_account.state.id
  container_access_type = "private"
}

resource "google_storage_bucket" "state" {
  #checkov:skip=CKV_GCP_62:Access logs would need a second bucket; object versioning keeps every state.
  name                        = var.state_bucket
  location                    = var.gcp_region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 20
    }

    action {
      type = "Delete"
    }
  }
}
