variable "subscription_id" {
  description = "The Azure subscription the resources are created in."
  type        = string
}

variable "name" {
  description = "The base name of every resource (the web app's host name is <name>.azurewebsites.net)."
  type        = string
  default     = "pipeline-inventory"
}

variable "location" {
  description = "The Azure region."
  type        = string
  default     = "westeurope"
}

variable "sku_name" {
  description = "The App Service plan's SKU: a tier with deployment slots (S1 or above)."
  type        = string
  default     = "S1"
}

variable "slots" {
  description = "The deployment slots, one per pre-production environment."
  type        = set(string)
  default     = ["ci", "dev", "qa", "staging"]
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose Actions may sign in with OIDC."
  type        = string
}

variable "github_environments" {
  description = "The GitHub environments whose jobs may sign in (one federated credential each)."
  type        = set(string)
  default     = ["ci", "dev", "qa", "staging", "production"]
}

variable "app_settings" {
  description = "Extra app settings for the web app and its slots."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = { project = "pipeline-orchestrator" }
}
