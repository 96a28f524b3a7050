# Remote state in the storage account made by ../bootstrap. Partial
# configuration: the values come from `terraform init -backend-config=...`
# (see infra/README.md); the blob's lease is the state lock.
terraform {
  backend "azurerm" {
    key              = "pipeline/azure.tfstate"
    use_azuread_auth = true
  }
}
