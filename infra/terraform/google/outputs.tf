output "workload_identity_provider" {
  description = "The GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER: the provider's full resource name."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "service_account" {
  description = "The GitHub variable GCP_SERVICE_ACCOUNT: the deployer GitHub Actions impersonates."
  value       = google_service_account.deployer.email
}

output "registry" {
  description = "The Docker registry path images are pushed to."
  value       = "${google_artifact_registry_repository.app.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.app.repository_id}"
}

output "service_url" {
  description = "The Cloud Run service's URL."
  value       = google_cloud_run_v2_service.app.uri
}
