# Remote state in the bucket made by ../bootstrap. Partial configuration:
# `terraform init -backend-config="bucket=..."` (see infra/README.md). GCS
# locks the state itself.
terraform {
  backend "gcs" {
    prefix = "pipeline/google"
  }
}
