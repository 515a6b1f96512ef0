; vmrestore installer (Inno Setup 6): installs the PyInstaller one-folder build per machine.
;
;   ISCC /DAppVersion=0.1.0 [/DBundleDir=<folder>] [/O<output folder>] packaging\vmrestore.iss
;
; packaging\build-windows.ps1 builds the bundle and then runs exactly this. BundleDir defaults to the folder the
; spec writes (dist\vmrestore); tests/installer/test_installer.py compiles this same script under Wine with its own
; BundleDir. Upgrades install in place over an older version (same AppId) and keep settings, catalog and audit log:
; those live in each user's data folder (%LOCALAPPDATA%\vmrestore), never under {app}, and the uninstaller leaves
; them alone. %PROGRAMDATA%\vmrestore (policy.json, set by an administrator) is kept as well.
#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=x.y.z (build-windows.ps1 reads it from vmrestore\__init__.py)
#endif
#ifndef BundleDir
  #define BundleDir "..\dist\vmrestore"
#endif
#ifndef OutputDir
  #define OutputDir "..\dist\installer"
#endif
#define AppName "vmrestore"
#define SweepTaskName "vmrestore\Sweep expired mounts"

[Setup]
AppId={{6E0B7C43-2D6A-4C8E-9B5B-7A1B0D9C2F11}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
AppComments=Restore console for VMware vSphere
VersionInfoVersion={#AppVersion}
VersionInfoProductVersion={#AppVersion}
VersionInfoDescription={#AppName} setup
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
OutputDir={#OutputDir}
OutputBaseFilename=vmrestore-setup-{#AppVersion}
SetupIconFile=..\resources\app\vmrestore.ico
UninstallDisplayIcon={app}\vmrestore-gui.exe
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
MinVersion=10.0
ChangesEnvironment=yes
; an upgrade closes a running vmrestore first (its files are in use) and does not restart it
CloseApplications=yes
RestartApplications=no

[Tasks]
Name: "sweeptask"; Description: "Undo expired disk mounts every hour (a scheduled task running ""vmrestore sweep --expired"" for each signed-in user)"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the bundle's libraries wholesale: files an older version had and this one does not must go.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "sweep-task.xml"; DestDir: "{tmp}"; Flags: deleteafterinstall dontcopy

[Dirs]
; machine-wide policy (role) set by an administrator, read-only for users; kept on uninstall
Name: "{commonappdata}\{#AppName}"; Permissions: users-readexec; Flags: uninsneveruninstall

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\vmrestore-gui.exe"; Comment: "Restore console for VMware vSphere"

[Registry]
; the console exe on the machine PATH for scripting (vmrestore <noun> <verb> --json); removed again on uninstall
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: expandsz; \
  ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\vmrestore-gui.exe"; Description: "Start vmrestore"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{sys}\schtasks.exe"; Parameters: "/Delete /F /TN ""{#SweepTaskName}"""; Flags: runhidden; RunOnceId: "DeleteSweepTask"

[Code]
const
  EnvKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';

function NeedsAddPath(Dir: string): Boolean;
var
  OrigPath: string;
begin
  if not RegQueryStringValue(HKEY_LOCAL_MACHINE, EnvKey, 'Path', OrigPath) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(OrigPath) + ';') = 0;
end;

procedure RemoveFromPath(Dir: string);
var
  OrigPath, NewPath: string;
  P: Integer;
begin
  if not RegQueryStringValue(HKEY_LOCAL_MACHINE, EnvKey, 'Path', OrigPath) then
    exit;
  NewPath := ';' + OrigPath + ';';
  P := Pos(';' + Uppercase(Dir) + ';', Uppercase(NewPath));
  if P = 0 then
    exit;
  Delete(NewPath, P, Length(Dir) + 1);
  NewPath := Copy(NewPath, 2, Length(NewPath) - 2);
  RegWriteExpandStringValue(HKEY_LOCAL_MACHINE, EnvKey, 'Path', NewPath);
end;

procedure RunSchtasks(Params: string);
var
  Code: Integer;
begin
  if not Exec(ExpandConstant('{sys}\schtasks.exe'), Params, '', SW_HIDE, ewWaitUntilTerminated, Code) then
    Log('schtasks could not start: ' + Params)
  else
    Log(Format('schtasks %s: exit %d', [Params, Code]));
end;

procedure UpdateSweepTask;
var
  Raw: AnsiString;
  Xml, XmlFile: string;
begin
  // Ticked: (re)create the task for this install folder. Unticked on an upgrade: remove an earlier one.
  RunSchtasks('/Delete /F /TN "{#SweepTaskName}"');
  if not WizardIsTaskSelected('sweeptask') then
    exit;
  ExtractTemporaryFile('sweep-task.xml');
  XmlFile := ExpandConstant('{tmp}\sweep-task.xml');
  if not LoadStringFromFile(XmlFile, Raw) then
    RaiseException('cannot read ' + XmlFile);
  Xml := String(Raw);
  StringChangeEx(Xml, '@APP@', ExpandConstant('{app}'), True);
  if not SaveStringToFile(XmlFile, AnsiString(Xml), False) then
    RaiseException('cannot write ' + XmlFile);
  RunSchtasks('/Create /F /TN "{#SweepTaskName}" /XML "' + XmlFile + '"');
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if CurStep = ssPostInstall then
    UpdateSweepTask;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
