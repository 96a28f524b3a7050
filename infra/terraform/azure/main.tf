resource "azurerm_resource_group" "main" {
  name     = "rg-${var.name}"
  location = var.location
  tags     = var.tags
}

resource "azurerm_service_plan" "main" {
  #checkov:skip=CKV_AZURE_212:One instance is enough for the sample app; scale out by raising worker_count.
  #checkov:skip=CKV_AZURE_225:Zone redundancy needs Premium v2/v3 plans; S1 is the smallest tier with slots.
  name                = "asp-${var.name}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  sku_name            = var.sku_name
  tags                = var.tags
}

locals {
  app_settings = merge({
    SCM_DO_BUILD_DURING_DEPLOYMENT = "false"
    WEBSITES_PORT                  = "8080"
  }, var.app_settings)

  # Settings that stay with the slot on a swap (they name the slot itself).
  sticky_settings = ["PIPELINE_SLOT", "PIPELINE_ENV"]
}

resource "azurerm_linux_web_app" "main" {
  #checkov:skip=CKV_AZURE_13:The app is a public API with its own health and version endpoints; App Service auth would block probes.
  #checkov:skip=CKV_AZURE_17:Client certificates are not used by the sample API's clients.
  #checkov:skip=CKV_AZURE_88:The app keeps no files; Azure Files storage is not needed.
  #checkov:skip=CKV_AZURE_222:The app is public by design; network restrictions are per deployment.
  #checkov:skip=CKV_AZURE_16:Entra ID registration is the system identity below (identity block).
  name                    = var.name
  resource_group_name     = azurerm_resource_group.main.name
  location                = azurerm_service_plan.main.location
  service_plan_id         = azurerm_service_plan.main.id
  https_only              = true
  client_affinity_enabled = false
  tags                    = var.tags

  identity {
    type = "SystemAssigned"
  }

  site_config {
    always_on                         = true
    ftps_state                        = "Disabled"
    http2_enabled                     = true
    minimum_tls_version               = "1.2"
    scm_minimum_tls_version           = "1.2"
    health_check_path                 = "/health"
    health_check_eviction_time_in_min = 5
    app_command_line                  = "sh run.sh"

    application_stack {
      python_version = "3.11"
    }
  }

  logs {
    detailed_error_messages = true
    failed_request_tracing  = true

    http_logs {
      file_system {
        retention_in_days = 7
        retention_in_mb   = 35
      }
    }
  }

  app_settings = merge(local.app_settings, {
    PIPELINE_ENV  = "production"
    PIPELINE_SLOT = "production"
  })

  sticky_settings {
    app_setting_names = local.sticky_settings
  }

  lifecycle {
    # PIPELINE_VERSION and PIPELINE_ARTIFACT_SHA256 are written by
    # `pipeline-deploy azure deploy` on every release.
    ignore_changes = [app_settings["PIPELINE_VERSION"], app_settings["PIPELINE_ARTIFACT_SHA256"]]
  }
}

resource "azurerm_linux_web_app_slot" "env" {
  #checkov:skip=CKV_AZURE_13:Same as the production app: a public API probed by the pipeline.
  #checkov:skip=CKV_AZURE_17:Client certificates are not used by the sample API's clients.
  #checkov:skip=CKV_AZURE_88:The app keeps no files; Azure Files storage is not needed.
  #checkov:skip=CKV_AZURE_222:The slots are probed by the pipeline from GitHub-hosted runners.
  #checkov:skip=CKV_AZURE_16:Entra ID registration is the system identity below (identity block).
  for_each       = var.slots
  name           = each.key
  app_service_id = azurerm_linux_web_app.main.id
  https_only     = true
  tags           = var.tags

  identity {
    type = "SystemAssigned"
  }

  site_config {
    always_on                         = true
    ftps_state                        = "Disabled"
    http2_enabled                     = true
    minimum_tls_version               = "1.2"
    scm_minimum_tls_version           = "1.2"
    health_check_path                 = "/health"
    health_check_eviction_time_in_min = 5
    app_command_line                  = "sh run.sh"

    application_stack {
      python_version = "3.11"
    }
  }

  logs {
    detailed_error_messages = true
    failed_request_tracing  = true

    http_logs {
      file_system {
        retention_in_days = 7
        retention_in_mb   = 35
      }
    }
  }

  app_settings = merge(local.app_settings, {
    PIPELINE_ENV  = each.key
    PIPELINE_SLOT = each.key
  })

  lifecycle {
    ignore_changes = [app_settings["PIPELINE_VERSION"], app_settings["PIPELINE_ARTIFACT_SHA256"]]
  }
}
