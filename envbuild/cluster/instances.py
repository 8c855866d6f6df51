"""Machine shapes per GPU and count on GKE (machine types) and EC2 (instance types).

A spec-encoding table: where a pool sets `machine-type` / `instance-types` these are not
consulted; where neither is known the emitters write a Terraform variable instead.
Source: the GCE GPU machine-type pages (A2, A3, A4, G2, N1) and the EC2 accelerated-computing
instance pages (G4dn, G5, G6, G6e, P3, P4d/P4de, P5/P5en, P6), as of 2025; secondary (from
notes, not checked against the live APIs).
"""

from __future__ import annotations

# GKE accelerator type -> GPUs per node -> machine type.
GKE_MACHINE_TYPES: dict[str, dict[int, str]] = {
    "nvidia-tesla-t4": {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32"},
    "nvidia-tesla-v100": {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32",
                          8: "n1-standard-64"},
    "nvidia-tesla-a100": {1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g",
                          8: "a2-highgpu-8g", 16: "a2-megagpu-16g"},
    "nvidia-a100-80gb": {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g",
                         8: "a2-ultragpu-8g"},
    "nvidia-l4": {1: "g2-standard-4", 2: "g2-standard-24", 4: "g2-standard-48",
                  8: "g2-standard-96"},
    "nvidia-h100-80gb": {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g",
                         8: "a3-highgpu-8g"},
    "nvidia-h100-mega-80gb": {8: "a3-megagpu-8g"},
    "nvidia-h200-141gb": {8: "a3-ultragpu-8g"},
    "nvidia-b200": {8: "a4-highgpu-8g"},
}

# envbuild GPU name -> GPUs per node -> EC2 instance types.
EC2_INSTANCE_TYPES: dict[str, dict[int, tuple[str, ...]]] = {
    "T4": {1: ("g4dn.xlarge",), 4: ("g4dn.12xlarge",), 8: ("g4dn.metal",)},
    "V100": {1: ("p3.2xlarge",), 4: ("p3.8xlarge",), 8: ("p3.16xlarge",)},
    "A10G": {1: ("g5.xlarge",), 4: ("g5.12xlarge",), 8: ("g5.48xlarge",)},
    "L4": {1: ("g6.xlarge",), 4: ("g6.12xlarge",), 8: ("g6.48xlarge",)},
    "L40S": {1: ("g6e.xlarge",), 4: ("g6e.12xlarge",), 8: ("g6e.48xlarge",)},
    "A100": {8: ("p4d.24xlarge", "p4de.24xlarge")},
    "A100-40GB": {8: ("p4d.24xlarge",)},
    "A100-80GB": {8: ("p4de.24xlarge",)},
    "H100": {8: ("p5.48xlarge",)},
    "H200": {8: ("p5en.48xlarge",)},
    "B200": {8: ("p6-b200.48xlarge",)},
}


def gke_machine_type(accelerator: str, count: int) -> str | None:
    return GKE_MACHINE_TYPES.get(accelerator, {}).get(count)


def ec2_instance_types(gpu: str, count: int) -> tuple[str, ...]:
    return EC2_INSTANCE_TYPES.get(gpu, {}).get(count, ())
