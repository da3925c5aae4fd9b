#include "enclave/attestation/enclave_image.h"

#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace serdab::attestation {
namespace {

constexpr std::string_view kDigestLabel = "serdab.enclave-image.v1";
// The largest image we measure; the enclave with its static dependencies is
// a few tens of MiB.
constexpr size_t kMaxImageBytes = size_t{1} << 30;

struct Segment {
  uint64_t vaddr = 0;
  uint32_t flags = 0;
  crypto::ByteView bytes;  // p_filesz bytes, as the linker wrote them
};

// An image, from a file (base 0) or from memory (base = load address).
struct Image {
  std::vector<Segment> segments;
  uint64_t base = 0;
  uint64_t dynamic_vaddr = 0;
  uint64_t dynamic_size = 0;
};

// The .dynamic entries glibc adjusts in place by the load address.
bool IsAdjustedAddress(int64_t tag) {
  switch (tag) {
    case DT_HASH:
    case DT_PLTGOT:
    case DT_STRTAB:
    case DT_SYMTAB:
    case DT_RELA:
    case DT_REL:
    case DT_JMPREL:
    case DT_VERSYM:
    case DT_GNU_HASH:
      return true;
    default:
      return false;
  }
}

// The writable copies of segments, where the loader's writes are undone.
class NormalizedImage {
 public:
  explicit NormalizedImage(const Image& image) : image_(image) {
    copies_.resize(image.segments.size());
    for (size_t i = 0; i < image.segments.size(); ++i) {
      if (image.segments[i].flags & PF_W) {
        copies_[i].assign(image.segments[i].bytes.begin(), image.segments[i].bytes.end());
      }
    }
  }

  // `n` bytes at `vaddr`, inside one segment's file bytes.
  Result<crypto::ByteView> Read(uint64_t vaddr, uint64_t n) const {
    SERDAB_ASSIGN_OR_RETURN(size_t i, Find(vaddr, n));
    const size_t at = vaddr - image_.segments[i].vaddr;
    return crypto::ByteView(Bytes(i).data() + at, n);
  }

  // Writable view of `n` bytes at `vaddr`, which must lie in a writable
  // segment (a relocation in a read-only one would be a text relocation).
  Result<uint8_t*> Writable(uint64_t vaddr, uint64_t n) {
    SERDAB_ASSIGN_OR_RETURN(size_t i, Find(vaddr, n));
    if ((image_.segments[i].flags & PF_W) == 0) {
      return Status::Corruption("enclave image: a dynamic relocation targets a read-only segment");
    }
    return copies_[i].data() + (vaddr - image_.segments[i].vaddr);
  }

  Status Normalize() {
    uint64_t rela = 0, rela_size = 0, jmprel = 0, jmprel_size = 0, pltgot = 0;
    if (image_.dynamic_size % sizeof(Elf64_Dyn) != 0) {
      return Status::Corruption("enclave image: malformed dynamic section");
    }
    SERDAB_ASSIGN_OR_RETURN(uint8_t * dynamic, Writable(image_.dynamic_vaddr, image_.dynamic_size));
    for (uint64_t off = 0; off < image_.dynamic_size; off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn entry;
      std::memcpy(&entry, dynamic + off, sizeof(entry));
      if (entry.d_tag == DT_NULL) break;
      if (IsAdjustedAddress(entry.d_tag) && image_.base != 0 && entry.d_un.d_ptr >= image_.base) {
        entry.d_un.d_ptr -= image_.base;
        std::memcpy(dynamic + off, &entry, sizeof(entry));
      }
      switch (entry.d_tag) {
        case DT_RELA:
          rela = entry.d_un.d_ptr;
          break;
        case DT_RELASZ:
          rela_size = entry.d_un.d_val;
          break;
        case DT_JMPREL:
          jmprel = entry.d_un.d_ptr;
          break;
        case DT_PLTRELSZ:
          jmprel_size = entry.d_un.d_val;
          break;
        case DT_PLTGOT:
          pltgot = entry.d_un.d_ptr;
          break;
        case DT_REL:
        case DT_TEXTREL:
          return Status::Corruption("enclave image: REL or text relocations are not supported");
        default:
          break;
      }
    }
    SERDAB_RETURN_IF_ERROR(ZeroTargets(rela, rela_size));
    SERDAB_RETURN_IF_ERROR(ZeroTargets(jmprel, jmprel_size));
    // GOT[1] and GOT[2] receive the link map and the lazy resolver.
    if (pltgot != 0) {
      SERDAB_ASSIGN_OR_RETURN(uint8_t * got, Writable(pltgot, 3 * sizeof(uint64_t)));
      std::memset(got, 0, 3 * sizeof(uint64_t));
    }
    return Status::Ok();
  }

  crypto::Sha256Digest Digest() const {
    crypto::Writer w;
    for (size_t i = 0; i < image_.segments.size(); ++i) {
      w.U64(image_.segments[i].vaddr);
      w.U32(image_.segments[i].flags);
      w.U64(Bytes(i).size());
      w.Raw(Bytes(i));
    }
    return crypto::Sha256Labeled(kDigestLabel, {w.bytes()});
  }

 private:
  crypto::ByteView Bytes(size_t i) const {
    return (image_.segments[i].flags & PF_W) ? crypto::ByteView(copies_[i])
                                             : image_.segments[i].bytes;
  }

  Result<size_t> Find(uint64_t vaddr, uint64_t n) const {
    for (size_t i = 0; i < image_.segments.size(); ++i) {
      const Segment& s = image_.segments[i];
      if (vaddr >= s.vaddr && n <= s.bytes.size() && vaddr - s.vaddr <= s.bytes.size() - n) {
        return i;
      }
    }
    return Status::Corruption("enclave image: an address lies outside every loaded segment");
  }

  Status ZeroTargets(uint64_t table, uint64_t size) {
    if (size == 0) return Status::Ok();
    if (size % sizeof(Elf64_Rela) != 0) {
      return Status::Corruption("enclave image: malformed relocation table");
    }
    SERDAB_ASSIGN_OR_RETURN(crypto::ByteView entries, Read(table, size));
    for (size_t off = 0; off < size; off += sizeof(Elf64_Rela)) {
      Elf64_Rela r;
      std::memcpy(&r, entries.data() + off, sizeof(r));
      if (ELF64_R_TYPE(r.r_info) == R_X86_64_NONE) continue;
      SERDAB_ASSIGN_OR_RETURN(uint8_t * target, Writable(r.r_offset, sizeof(uint64_t)));
      std::memset(target, 0, sizeof(uint64_t));
    }
    return Status::Ok();
  }

  const Image& image_;
  std::vector<crypto::Bytes> copies_;
};

Result<crypto::Sha256Digest> DigestOf(const Image& image) {
  if (image.segments.empty() || image.dynamic_size == 0) {
    return Status::Corruption("enclave image: no loadable segments or no dynamic section");
  }
  NormalizedImage normalized(image);
  SERDAB_RETURN_IF_ERROR(normalized.Normalize());
  return normalized.Digest();
}

struct FindObject {
  uintptr_t address = 0;
  Image image;
  uintptr_t begin = UINTPTR_MAX;
  uintptr_t end = 0;
  bool found = false;
};

int VisitObject(dl_phdr_info* info, size_t, void* data) {
  auto* find = static_cast<FindObject*>(data);
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && find->address >= start && find->address - start < ph.p_memsz) {
      contains = true;
    }
  }
  if (!contains) return 0;
  find->image.base = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD) {
      const auto* bytes = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
      find->image.segments.push_back({ph.p_vaddr, ph.p_flags, {bytes, ph.p_filesz}});
      find->begin = std::min<uintptr_t>(find->begin, info->dlpi_addr + ph.p_vaddr);
      find->end = std::max<uintptr_t>(find->end, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    } else if (ph.p_type == PT_DYNAMIC) {
      find->image.dynamic_vaddr = ph.p_vaddr;
      find->image.dynamic_size = ph.p_filesz;
    }
  }
  find->found = true;
  return 1;
}

}  // namespace

Result<crypto::Sha256Digest> ImageDigestFromFile(crypto::ByteView elf) {
  Elf64_Ehdr eh;
  if (elf.size() < sizeof(eh)) return Status::Corruption("enclave image: not an ELF file");
  std::memcpy(&eh, elf.data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_DYN || eh.e_machine != EM_X86_64) {
    return Status::Corruption("enclave image: not a 64-bit x86-64 ELF shared object");
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > elf.size() ||
      eh.e_phnum > (elf.size() - eh.e_phoff) / sizeof(Elf64_Phdr)) {
    return Status::Corruption("enclave image: program headers lie outside the file");
  }
  Image image;
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + eh.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_type == PT_LOAD) {
      if (ph.p_offset > elf.size() || ph.p_filesz > elf.size() - ph.p_offset) {
        return Status::Corruption("enclave image: a segment lies outside the file");
      }
      image.segments.push_back({ph.p_vaddr, ph.p_flags, elf.subspan(ph.p_offset, ph.p_filesz)});
    } else if (ph.p_type == PT_DYNAMIC) {
      image.dynamic_vaddr = ph.p_vaddr;
      image.dynamic_size = ph.p_filesz;
    }
  }
  return DigestOf(image);
}

Result<LoadedImage> MeasureLoadedObject(const void* address) {
  FindObject find;
  find.address = reinterpret_cast<uintptr_t>(address);
  dl_iterate_phdr(VisitObject, &find);
  if (!find.found) return Status::Internal("no loaded object contains the enclave's code");
  LoadedImage loaded;
  SERDAB_ASSIGN_OR_RETURN(loaded.digest, DigestOf(find.image));
  loaded.begin = find.begin;
  loaded.end = find.end;
  return loaded;
}

Result<crypto::Sha256Digest> ImageDigestOfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot read the enclave image");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > kMaxImageBytes) {
    return Status::Corruption(path + ": not an enclave image (size)");
  }
  in.seekg(0);
  crypto::Bytes bytes(static_cast<size_t>(size));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    return Status::IoError(path + ": cannot read the enclave image");
  }
  auto digest = ImageDigestFromFile(bytes);
  if (!digest.ok()) return digest.status().WithContext(path);
  return digest;
}

}  // namespace serdab::attestation
