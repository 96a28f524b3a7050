variable "azure_subscription_id" {
  description = "The Azure subscription of the state storage account."
  type        = string
}

variable "azure_location" {
  description = "The Azure region of the state storage account."
  type        = string
  default     = "westeurope"
}

variable "state_storage_account" {
  description = "The storage account's name (3-24 lower-case letters and digits, globally unique)."
  type        = string
}

variable "gcp_project_id" {
  description = "The Google Cloud project of the state bucket."
  type        = string
}

variable "gcp_region" {
  description = "The location of the state bucket."
  type        = string
  default     = "europe-west1"
}

variable "state_bucket" {
  description = "The GCS bucket's name (globally unique)."
  type        = string
}
