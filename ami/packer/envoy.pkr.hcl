# The Envoy proxy image: Amazon Linux 2023 minimal (ARM64), configured by Salt (masterless),
# checked by starting Envoy, cleaned, encrypted and copied to every fleet region.

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "~> 1.3"
    }
  }
}

locals {
  build_time = timestamp()
  ami_name   = "${var.platform_name}-envoy-${var.envoy_version}-${formatdate("YYYYMMDD-hhmmss", local.build_time)}"
  bake_dir   = "/tmp/edge-bake"
  tags = {
    Name          = local.ami_name
    platform      = var.platform_name
    component     = "proxy-ami"
    EnvoyVersion  = var.envoy_version
    SaltVersion   = var.salt_version
    GitCommit     = var.git_commit
    BuildTime     = local.build_time
    BuildRegion   = "{{ .BuildRegion }}"
    SourceAMI     = "{{ .SourceAMI }}"
    SourceAMIName = "{{ .SourceAMIName }}"
  }
}

source "amazon-ebs" "envoy" {
  region        = var.build_region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id == "" ? null : var.subnet_id

  # Amazon Linux 2023 minimal for Graviton, newest build, published by Amazon only.
  source_ami_filter {
    filters = {
      name                = "al2023-ami-minimal-2023.*-kernel-*-arm64"
      architecture        = "arm64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["137112412989"]
    most_recent = true
  }

  ami_name        = local.ami_name
  ami_description = "Edge proxy: Envoy ${var.envoy_version} on Amazon Linux 2023 (ARM64), commit ${var.git_commit}"
  # The image lands in the build region and is copied to every other fleet region.
  ami_regions = [for region in var.fleet_regions : region if region != var.build_region]
  ena_support = true
  # Instances launched from the image must use IMDSv2.
  imds_support = "v2.0"

  # The boot volume and its snapshot (and every regional copy) are encrypted.
  encrypt_boot = true
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_type           = "gp3"
    volume_size           = var.root_volume_gib
    encrypted             = true
    delete_on_termination = true
  }

  # The build instance itself: IMDSv2 only, reachable over SSH from this machine only.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }
  ssh_username                              = "ec2-user"
  temporary_security_group_source_public_ip = true
  associate_public_ip_address               = true

  tags          = local.tags
  snapshot_tags = local.tags
  run_tags      = merge(local.tags, { Name = "${local.ami_name}-builder" })
}

build {
  name    = "envoy"
  sources = ["source.amazon-ebs.envoy"]

  provisioner "shell" {
    inline = ["mkdir -p ${local.bake_dir}/salt ${local.bake_dir}/pillar"]
  }

  # The Salt state tree and the pillar defaults.
  provisioner "file" {
    source      = "${path.root}/../salt/salt/"
    destination = "${local.bake_dir}/salt"
  }

  provisioner "file" {
    source      = "${path.root}/../salt/pillar/"
    destination = "${local.bake_dir}/pillar"
  }

  # A pinned Salt onedir, verified against its sha256 (masterless: no minion service).
  provisioner "shell" {
    script           = "${path.root}/scripts/install-salt.sh"
    environment_vars = ["SALT_VERSION=${var.salt_version}", "SALT_ONEDIR_SHA256=${var.salt_onedir_sha256}"]
    execute_command  = "chmod +x {{ .Path }}; sudo -E env {{ .Vars }} bash {{ .Path }}"
  }

  # Apply every state; any failed state fails the bake.
  provisioner "shell" {
    inline = [
      "sudo /opt/saltstack/salt/salt-call --local --retcode-passthrough --state-output=changes --log-level=warning --file-root=${local.bake_dir}/salt --pillar-root=${local.bake_dir}/pillar state.apply",
    ]
  }

  # Envoy must validate and start with a bootstrap written by the image's own writer.
  provisioner "shell" {
    script           = "${path.root}/scripts/check-envoy.sh"
    environment_vars = ["ENVOY_VERSION=${var.envoy_version}", "EDGE_REGION=${var.build_region}"]
    execute_command  = "chmod +x {{ .Path }}; sudo -E env {{ .Vars }} bash {{ .Path }}"
  }

  # Leave nothing instance-specific or bake-only in the image.
  provisioner "shell" {
    script           = "${path.root}/scripts/cleanup.sh"
    environment_vars = ["BAKE_DIR=${local.bake_dir}"]
    execute_command  = "chmod +x {{ .Path }}; sudo -E env {{ .Vars }} bash {{ .Path }}"
  }

  # The region -> AMI id map that `npm run ami:build` publishes to SSM.
  post-processor "manifest" {
    output     = "${path.root}/manifest.json"
    strip_path = true
    custom_data = {
      envoy_version = var.envoy_version
      git_commit    = var.git_commit
      build_time    = local.build_time
    }
  }
}
