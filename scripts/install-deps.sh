#!/usr/bin/env bash
# Installs the Debian 12 packages Serdab builds, tests and benchmarks with.
# Idempotent: packages already present are not touched, and apt is not called
# at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format clang libclang-rt-14-dev
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libeigen3-dev libsodium-dev libipsec-mb-dev libssl-dev libsqlite3-dev libyaml-cpp-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev protobuf-compiler-grpc libcli11-dev nlohmann-json3-dev libsystemd-dev systemd
  libcpp-httplib-dev prometheus libfreetype-dev fonts-dejavu-core
  python3 python3-numpy python3-onnx python3-torch python3-torchvision
  libavformat-dev libavcodec-dev libswscale-dev libavdevice-dev libavutil-dev ffmpeg
  gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp python3-gi gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  mosquitto libmosquitto-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
