<#
.SYNOPSIS
  Builds the vmrestore Windows bundle (PyInstaller, one folder) and its installer (Inno Setup) from a clean checkout.

.DESCRIPTION
  Run from anywhere on a Windows build machine with Python 3.11 (the py launcher) and Inno Setup 6:
      powershell -ExecutionPolicy Bypass -File packaging\build-windows.ps1
  It makes a fresh virtual environment in build\venv, installs vmrestore with the "package" extra, runs
  pyinstaller on packaging\vmrestore.spec (output dist\vmrestore), checks the bundle with
  "vmrestore.exe --version" and "vmrestore.exe --self-check", and compiles packaging\vmrestore.iss with the
  version read from vmrestore\__init__.py (output dist\installer\vmrestore-setup-<version>.exe).
  Sign both with your code-signing certificate before you hand them out (signtool; not done here).

.PARAMETER Iscc
  Path of ISCC.exe, if it is not in the default Inno Setup 6 folder or on PATH.
#>
param(
  [string]$Iscc = "",
  [string]$Python = "py -3.11"
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest
$root = Split-Path -Parent $PSScriptRoot
Set-Location $root

function Invoke-Checked([string]$what, [scriptblock]$block) {
  Write-Host "== $what"
  & $block
  if ($LASTEXITCODE -ne 0) { throw "$what failed (exit $LASTEXITCODE)" }
}

$version = (Select-String -Path "vmrestore\__init__.py" -Pattern '__version__ = "([^"]+)"').Matches[0].Groups[1].Value
Write-Host "vmrestore $version"

if (-not $Iscc) {
  $candidates = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe")
  $Iscc = ($candidates | Where-Object { Test-Path $_ } | Select-Object -First 1)
  if (-not $Iscc) { $Iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source }
  if (-not $Iscc) { throw "ISCC.exe not found: install Inno Setup 6 or pass -Iscc <path>" }
}

$venv = Join-Path $root "build\venv"
if (Test-Path $venv) { Remove-Item -Recurse -Force $venv }
Invoke-Checked "virtual environment" { Invoke-Expression "$Python -m venv `"$venv`"" }
$py = Join-Path $venv "Scripts\python.exe"
Invoke-Checked "pip" { & $py -m pip install --quiet --upgrade pip }
Invoke-Checked "install vmrestore[package]" { & $py -m pip install --quiet ".[package]" }

foreach ($old in @("dist\vmrestore", "build\vmrestore")) { if (Test-Path $old) { Remove-Item -Recurse -Force $old } }
$watch = [Diagnostics.Stopwatch]::StartNew()
Invoke-Checked "pyinstaller" { & $py -m PyInstaller --noconfirm --distpath dist --workpath build packaging\vmrestore.spec }
Write-Host ("bundle built in {0:N1} s" -f $watch.Elapsed.TotalSeconds)

$exe = Join-Path $root "dist\vmrestore\vmrestore.exe"
$checkHome = Join-Path $root "build\selfcheck-home"
$env:VMRESTORE_HOME = $checkHome   # the check must not touch the builder's own vmrestore data
try {
  Invoke-Checked "bundle --version" { & $exe --version }
  Invoke-Checked "bundle --self-check" { & $exe --self-check }
} finally {
  Remove-Item Env:\VMRESTORE_HOME
  if (Test-Path $checkHome) { Remove-Item -Recurse -Force $checkHome }
}

Invoke-Checked "Inno Setup" { & $Iscc "/DAppVersion=$version" "/DBundleDir=$root\dist\vmrestore" "/O$root\dist\installer" packaging\vmrestore.iss }
Write-Host "installer: dist\installer\vmrestore-setup-$version.exe"
