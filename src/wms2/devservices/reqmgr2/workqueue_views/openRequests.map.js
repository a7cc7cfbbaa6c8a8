function (doc) {
  var element = doc["WMCore.WorkQueue.DataStructs.WorkQueueElement.WorkQueueElement"];
  if (element && element.OpenForNewData) {
    emit(element.RequestName, null);
  }
}
