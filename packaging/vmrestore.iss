; Inno Setup script: installs the PyInstaller one-folder build per machine, with Start-menu shortcut
; and the console exe on PATH for scripting. Compile with ISCC.exe packaging\vmrestore.iss after pyinstaller.
#define AppName "vmrestore"
#define AppVersion "0.1.0"

[Setup]
AppId={{6E0B7C43-2D6A-4C8E-9B5B-7A1B0D9C2F11}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=vmrestore
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
OutputBaseFilename=vmrestore-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
ChangesEnvironment=yes

[Files]
Source: "dist\vmrestore\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Dirs]
; machine-wide policy (role) set by an administrator, read-only for users
Name: "{commonappdata}\vmrestore"; Permissions: users-readexec

[Icons]
Name: "{group}\vmrestore"; Filename: "{app}\vmrestore-gui.exe"
Name: "{group}\Uninstall vmrestore"; Filename: "{uninstallexe}"

[Registry]
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: expandsz; \
  ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\vmrestore-gui.exe"; Description: "Start vmrestore"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Param: string): boolean;
var
  OrigPath: string;
begin
  if not RegQueryStringValue(HKEY_LOCAL_MACHINE, 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment',
    'Path', OrigPath) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Param + ';', ';' + OrigPath + ';') = 0;
end;
