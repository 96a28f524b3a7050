variable "project_id" {
  description = "The Google Cloud project."
  type        = string
}

variable "region" {
  description = "The region of the registry and the Cloud Run service."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "The base name of every resource (the Cloud Run service's name)."
  type        = string
  default     = "pipeline-inventory"
}

variable "image" {
  description = "The first image the service runs; later revisions are deployed by the pipeline."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose Actions may impersonate the deployer."
  type        = string
}

variable "allow_unauthenticated" {
  description = "Whether anyone may call the service (the sample app is a public API)."
  type        = bool
  default     = true
}
