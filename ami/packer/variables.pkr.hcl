# Inputs of the Envoy image bake. `npm run ami:build` sets them from the platform config
# (lib/config) and the Salt pillar; the defaults equal the default platform config, and
# `npm run ami:validate` (and npm test) fail if they drift apart.

variable "platform_name" {
  type        = string
  description = "Platform name (config.platformName): prefixes the AMI name and tags."
  default     = "edge"
}

variable "build_region" {
  type        = string
  description = "Region the image is built in (config.homeRegion); it must be a fleet region."
  default     = "us-east-1"
}

variable "fleet_regions" {
  type        = list(string)
  description = "Every fleet region (config.regions): the image is copied to each of them."
  default = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
  ]
}

variable "instance_type" {
  type        = string
  description = "Build instance type: the fleet's Graviton type (config.fleet.instanceType)."
  default     = "c7g.large"
}

variable "root_volume_gib" {
  type        = number
  description = "Root volume of the image, GiB; the fleet's launch template may only make it larger."
  default     = 8
}

variable "envoy_version" {
  type        = string
  description = "Envoy release the Salt pillar pins (envoy:version); recorded in tags and checked on the instance."
  default     = "1.39.0"
}

variable "git_commit" {
  type        = string
  description = "Commit of the repository the image was baked from (ami:build sets it)."
  default     = "unknown"
}

variable "salt_version" {
  type        = string
  description = "Salt onedir release used to apply the states (removed from the image afterwards)."
  default     = "3006.9"
}

variable "salt_onedir_sha256" {
  type        = string
  description = "sha256 of salt-<version>-onedir-linux-aarch64.tar.xz; update with salt_version."
  default     = "8f0e4e3c9a4d1b7e6c5f2a3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
}

variable "subnet_id" {
  type        = string
  description = "Optional subnet for the build instance (with a route to the internet); empty: the default VPC."
  default     = ""
}
